"""Files: where uploads and outputs live (`storage`), what a file is (`filetypes`), and the store
behind them (`filestore`: a local directory or an S3-compatible bucket)."""
