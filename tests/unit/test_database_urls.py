"""A PostgreSQL URL that lists every node of a formation reaches the ledger's connections
whole: each host with its port, and the parameters libpq reads beside them."""

from __future__ import annotations

import pytest
from psycopg.conninfo import conninfo_to_dict

from api.core.settings import Settings, database_label, persistence_env
from projections.storage.opening import is_postgres, postgres_conninfo

FORMATION = (
    "postgresql://ledger:s3cret@db1.example:5432,db2.example:5433/ledger"
    "?target_session_attrs=read-write"
)


def test_a_host_list_and_its_parameters_reach_every_connection() -> None:
    env = persistence_env(FORMATION)

    assert is_postgres(env)
    assert conninfo_to_dict(postgres_conninfo(env)) == {
        "host": "db1.example,db2.example",
        "port": "5432,5433",
        "dbname": "ledger",
        "user": "ledger",
        "password": "s3cret",
        "target_session_attrs": "read-write",
    }


def test_a_host_list_is_named_node_by_node_without_the_password() -> None:
    assert database_label(FORMATION) == ("postgresql db1.example:5432,db2.example:5433/ledger")
    assert database_label("postgresql://u@db.example/ledger") == (
        "postgresql db.example:5432/ledger"
    )


def test_a_url_of_one_host_needs_no_parameters() -> None:
    env = persistence_env("postgresql://u@db.example:6432/ledger")

    assert conninfo_to_dict(postgres_conninfo(env)) == {
        "host": "db.example",
        "port": "6432",
        "dbname": "ledger",
        "user": "u",
        "password": "",
    }


@pytest.mark.parametrize(
    ("url", "refusal"),
    [
        ("postgresql://u@db.example:port/ledger", "port 'port' is not a port number"),
        ("postgresql://u@db1:5432,db2:x/ledger", "port '5432,x' is not a port"),
        ("postgresql://u@db.example/ledger?no_such_parameter=1", "libpq cannot read"),
    ],
)
def test_a_postgresql_url_libpq_cannot_use_is_refused_at_start(url: str, refusal: str) -> None:
    with pytest.raises(ValueError, match=refusal):
        Settings(database_url=url)
