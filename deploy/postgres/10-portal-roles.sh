#!/bin/sh
# The portal's database and its two roles. The postgres image runs this once, on first start with an empty data
# volume (docker-compose.yml mounts this folder on /docker-entrypoint-initdb.d/); tests/deploy/test_db_roles.py runs
# the same file against a test server.
#
#   owner (portal_owner): owns the database, its schema and every table; only the one-shot `migrate` service uses it.
#   app   (portal_app):   web, worker and beat. SELECT/INSERT/UPDATE/DELETE on tables, USAGE/SELECT on sequences,
#                         nothing else: it owns nothing, so it can neither DROP nor ALTER a table, nor drop, disable or
#                         replace the audit log's append-only trigger (portal/accounts/migrations/0002_...).
#
# Needs PORTAL_DB_OWNER_PASSWORD and PORTAL_DB_APP_PASSWORD. PORTAL_DB_NAME, PORTAL_DB_OWNER and PORTAL_DB_APP_USER
# (defaults portal, portal_owner, portal_app) exist for tests. Connects as POSTGRES_USER to POSTGRES_DB, as the
# image's own init does (PGHOST/PGPORT select another server).
set -eu

: "${PORTAL_DB_OWNER_PASSWORD:?PORTAL_DB_OWNER_PASSWORD is required}"
: "${PORTAL_DB_APP_PASSWORD:?PORTAL_DB_APP_PASSWORD is required}"

psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet \
    --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
    -v db="${PORTAL_DB_NAME:-portal}" \
    -v owner="${PORTAL_DB_OWNER:-portal_owner}" \
    -v app="${PORTAL_DB_APP_USER:-portal_app}" \
    -v owner_password="$PORTAL_DB_OWNER_PASSWORD" \
    -v app_password="$PORTAL_DB_APP_PASSWORD" <<'SQL'
CREATE ROLE :"owner" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'owner_password';
CREATE ROLE :"app" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT
    PASSWORD :'app_password';

CREATE DATABASE :"db" OWNER :"owner";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO :"app";

\connect :"db"
-- Only the owner creates objects (PostgreSQL 15 already refuses CREATE to PUBLIC; older servers do not).
ALTER SCHEMA public OWNER TO :"owner";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app";
-- Tables and sequences the owner creates (every migration, now and later) are usable by the app, for DML only.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO :"app";
SQL
