"""Count every SQL statement, including those run inside a request (Django resets queries_log at request start,
which silently defeats CaptureQueriesContext around test-client requests)."""

from contextlib import contextmanager

from django.db import connection


@contextmanager
def count_queries():
    counter = {"n": 0}

    def wrapper(execute, sql, params, many, context):
        counter["n"] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield counter
