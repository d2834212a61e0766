"""Precompiled statements for the REST API's hot path, the access-token hand-out.

On this machine class Django's ORM spends 0.4–0.7 ms per query building SQL and model instances, more than
PostgreSQL spends answering a prepared statement (about 0.2 ms). The hand-out runs two statements per call at
thousands of calls a second, so those are built once, from the models' own metadata (table and column names, field
preparation and Django's own converters), and their rows become ordinary model instances (`Model.from_db`).
Everything else uses the ORM; nothing here knows a rule about who may do what.

- `Projection(Model, "t")`: a model's concrete columns under a table alias, and a row slice back into an instance;
- `Query(build)`: a SELECT built once per database vendor; `.fetch_one(params, *projections, extra=n)` returns one
  row as instances plus `n` trailing plain values;
- `insert(instance)`: INSERT … RETURNING the primary key, as `Model.objects.create` would store it.
"""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import AutoField, BigAutoField, SmallAutoField

_AUTO = (AutoField, BigAutoField, SmallAutoField)


class Projection:
    def __init__(self, model, alias: str):
        self.model, self.alias = model, alias
        self.fields = list(model._meta.concrete_fields)
        self.attnames = [f.attname for f in self.fields]
        self.width = len(self.fields)
        self.pk_index = self.fields.index(model._meta.pk)
        self._converters: dict[str, list] = {}

    def columns(self, connection) -> str:
        quote = connection.ops.quote_name
        return ", ".join(f"{self.alias}.{quote(f.column)}" for f in self.fields)

    def _converters_for(self, connection) -> list:
        """[(index, column expression, converters)] for the fields whose database values need converting."""
        found = self._converters.get(connection.vendor)
        if found is None:
            found = []
            for index, field in enumerate(self.fields):
                column = field.get_col(self.alias)
                converters = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
                if converters:
                    found.append((index, column, converters))
            self._converters[connection.vendor] = found
        return found

    def instance(self, values, connection):
        values = list(values)
        for index, column, converters in self._converters_for(connection):
            value = values[index]
            for converter in converters:
                value = converter(value, column, connection)
            values[index] = value
        return self.model.from_db(connection.alias, self.attnames, values)


class Query:
    """A SELECT built once per database vendor by `build(connection) -> sql` (identifiers from model metadata only;
    every value is a parameter)."""

    def __init__(self, build):
        self._build = build
        self._sql: dict[str, str] = {}

    def fetch_one(self, params, *projections: Projection, extra: int = 0, using: str = DEFAULT_DB_ALIAS):
        """One row as instances (None for an all-NULL outer join) plus `extra` trailing plain values; None when
        there is no row."""
        connection = connections[using]
        sql = self._sql.get(connection.vendor)
        if sql is None:
            sql = self._sql[connection.vendor] = self._build(connection)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        result, start = [], 0
        for projection in projections:
            values = row[start:start + projection.width]
            start += projection.width
            result.append(None if values[projection.pk_index] is None else projection.instance(values, connection))
        result.extend(row[start:start + extra])
        return result


_INSERTS: dict[tuple, tuple[str, list]] = {}


def insert(instance, using: str = DEFAULT_DB_ALIAS):
    """Store a new instance with one INSERT … RETURNING its primary key. No signals are sent."""
    connection = connections[using]
    meta = instance._meta
    key = (meta.label, connection.vendor)
    if key not in _INSERTS:
        fields = [f for f in meta.concrete_fields if not isinstance(f, _AUTO)]
        quote = connection.ops.quote_name
        columns = ", ".join(quote(f.column) for f in fields)
        sql = (f"INSERT INTO {quote(meta.db_table)} ({columns}) "  # noqa: S608 - identifiers only, see Query
               f"VALUES ({', '.join(['%s'] * len(fields))}) RETURNING {quote(meta.pk.column)}")
        _INSERTS[key] = (sql, fields)
    sql, fields = _INSERTS[key]
    params = [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        instance.pk = cursor.fetchone()[0]
    instance._state.adding = False
    instance._state.db = connection.alias
    return instance
