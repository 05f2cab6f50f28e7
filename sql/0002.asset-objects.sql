-- Object storage of the `postgres` storage backend: each stored object is one
-- row of metadata and its bytes in fixed-size chunks, so a large object is
-- written and read a chunk at a time and a byte range reads only its chunks.
-- depends: 0001.initial

CREATE TABLE content_asset_objects (
    object_key   text PRIMARY KEY,
    content_type text NOT NULL,
    byte_size    bigint NOT NULL CHECK (byte_size >= 0),
    sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    -- every chunk but the last holds exactly this many bytes
    chunk_size   integer NOT NULL CHECK (chunk_size > 0),
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE content_asset_chunks (
    -- deferred: a put writes its chunks first and the object row last, in one transaction
    object_key text NOT NULL REFERENCES content_asset_objects (object_key)
               ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    chunk_no   integer NOT NULL CHECK (chunk_no >= 0),
    data       bytea NOT NULL,
    PRIMARY KEY (object_key, chunk_no)
);
