"""Operating an instance: collecting orphan blobs (`gc`), online backups and restores
(`backup`), and the consistency check (`check`). docs/operations.md is the operator's guide."""
