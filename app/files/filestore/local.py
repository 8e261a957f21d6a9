"""The local-directory store: DATA_DIR, as before (app.files.storage does the naming and
confinement)."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import BinaryIO

from app.errors import InvalidInput
from app.files import storage
from app.files.storage import StoredFile


class LocalStore:
    """Files under `data_dir`; refs are paths under it (absolute, or keys relative to it)."""

    kind = "local"

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)

    def save_upload(self, original_name: str, content: bytes, max_bytes: int) -> StoredFile:
        return storage.save_upload(self.data_dir, original_name, content, max_bytes)

    def path_of(self, ref: str) -> Path:
        """The confined local path of `ref` (a path, or a key relative to DATA_DIR).

        Raises:
            InvalidInput: outside DATA_DIR, or a storage URL (this store holds none).
        """
        if str(ref).startswith("s3://"):
            raise InvalidInput("This console stores files locally (FILE_STORE=local); an s3:// URL needs FILE_STORE=s3.")
        try:
            return storage.confine(self.data_dir, ref)
        except InvalidInput:
            if Path(ref).is_absolute():
                raise
            return storage.confine(self.data_dir, self.data_dir / ref)

    def owns(self, ref: str) -> bool:
        try:
            self.path_of(ref)
            return True
        except InvalidInput:
            return False

    def fetch(self, ref: str, target: Path) -> None:
        shutil.copyfile(self.path_of(ref), target)

    def put_file(self, local_path: Path, key: str) -> str:
        dest = storage.confine(self.data_dir, self.data_dir / key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if Path(local_path).resolve() != dest:
            shutil.copyfile(local_path, dest)
        return str(dest)

    def open(self, ref: str) -> BinaryIO:
        return open(self.path_of(ref), "rb")

    def exists(self, ref: str) -> bool:
        return self.path_of(ref).is_file()

    def name_of(self, ref: str) -> str:
        return self.path_of(ref).name
