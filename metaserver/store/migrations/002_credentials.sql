-- Tokens, their revocation feed, the token signing keys, the tunnel CA and bootstrap tokens.

-- A token is never stored: only its id (the JWT's jti) and a SHA-256 of it.
CREATE TABLE tokens (
  id          text PRIMARY KEY,
  username    text NOT NULL,
  tenant      text NOT NULL,
  description text NOT NULL DEFAULT '',
  token_hash  text NOT NULL,
  kid         text NOT NULL,
  issued_at   timestamptz NOT NULL,
  expires_at  timestamptz NOT NULL,
  revoked_at  timestamptz,
  issued_by   text NOT NULL
);
CREATE INDEX tokens_username ON tokens (username);
CREATE INDEX tokens_tenant ON tokens (tenant);

-- Append-only; seq is the feed cursor. Writers serialise on an advisory lock so that seq
-- order is commit order and a reader's cursor never skips a row committed late.
CREATE TABLE revocations (
  seq        bigserial PRIMARY KEY,
  token_id   text NOT NULL,
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE signing_keys (
  kid             text PRIMARY KEY,
  algorithm       text NOT NULL,
  private_key_pem text NOT NULL,
  public_key_pem  text NOT NULL,
  active          boolean NOT NULL DEFAULT false,
  created_at      timestamptz NOT NULL DEFAULT now(),
  retired_at      timestamptz
);
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (active) WHERE active;

CREATE TABLE certificate_authority (
  id         integer PRIMARY KEY CHECK (id = 1),
  cert_pem   text NOT NULL,
  key_pem    text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE bootstrap_tokens (
  id         text PRIMARY KEY,
  cluster    text NOT NULL REFERENCES clusters (name) ON DELETE CASCADE,
  token_hash text NOT NULL UNIQUE,
  expires_at timestamptz NOT NULL,
  used_at    timestamptz,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Every certificate the CA signed (no keys: the requester keeps its private key).
CREATE TABLE certificates (
  serial     text PRIMARY KEY,
  kind       text NOT NULL,
  subject    text NOT NULL,
  not_after  timestamptz NOT NULL,
  issued_at  timestamptz NOT NULL DEFAULT now(),
  issued_by  text NOT NULL
);
