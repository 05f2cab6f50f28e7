-- Drops the postgres storage backend's tables (and every object stored in them).
DROP TABLE content_asset_chunks;
DROP TABLE content_asset_objects;
