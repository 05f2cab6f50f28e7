"""Result files: the asset store and its storage backends (Postgres, S3)."""
