"""`storage.existing_file`: the one "stored file must exist under DATA_DIR" check (pure, no Redis)."""
from __future__ import annotations

import pytest

from app.errors import InvalidInput
from app.files import storage


def test_existing_file_accepts_a_stored_file_and_refuses_the_rest(tmp_path):
    data_dir = tmp_path / "data"
    (data_dir / "uploads").mkdir(parents=True)
    kept = data_dir / "uploads" / "a.txt"
    kept.write_text("x")
    outside = tmp_path / "secret.txt"
    outside.write_text("x")
    (data_dir / "uploads" / "link.txt").symlink_to(outside)

    assert storage.existing_file(data_dir, str(kept)) == kept.resolve()
    with pytest.raises(InvalidInput, match="The stored file is missing: gone.txt. Upload it again."):
        storage.existing_file(data_dir, data_dir / "uploads" / "gone.txt")
    with pytest.raises(InvalidInput, match="missing: uploads"):
        storage.existing_file(data_dir, data_dir / "uploads")  # a folder is not a file
    with pytest.raises(InvalidInput, match="outside the data directory"):
        storage.existing_file(data_dir, outside)
    with pytest.raises(InvalidInput, match="outside the data directory"):
        storage.existing_file(data_dir, data_dir / "uploads" / "link.txt")
    with pytest.raises(InvalidInput, match="The text file is missing: t.txt"):
        storage.existing_file(data_dir, data_dir / "outputs" / "t.txt", "The text file is missing: {name}.")
    for other in ("t.txt", "redis/appendonly.aof", "secrets/redis_password", "outbox/1.eml"):  # areas the console keeps to itself
        (data_dir / other).parent.mkdir(parents=True, exist_ok=True)
        (data_dir / other).write_text("x")
        with pytest.raises(InvalidInput, match="not in the uploads or outputs folder"):
            storage.existing_file(data_dir, data_dir / other)
