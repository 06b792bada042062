"""dburl: the one conversion of a config URL to SQLAlchemy, shared by probes, schema contracts, SQL actions, the log and the history."""

from __future__ import annotations

from pathlib import Path

import pytest

from interlock import dburl


def test_each_kind_gets_interlocks_driver_and_its_where() -> None:
    url, where = dburl.engine_url("postgresql", "postgres://u:pw@db.example:6543/shop")
    assert (str(url.drivername), where) == ("postgresql+psycopg", "db.example:6543/shop")  # type: ignore[union-attr]
    url, where = dburl.engine_url("mysql", "mariadb://root@h/x")
    assert (str(url.drivername), where) == ("mysql+pymysql", "h:3306/x")  # type: ignore[union-attr]
    assert dburl.sqlalchemy_url("postgresql", "postgresql://u@h/db").drivername == "postgresql+psycopg"


def test_a_sqlite_store_to_look_at_must_exist_and_is_never_created(tmp_path: Path) -> None:
    missing = tmp_path / "shop.db"
    with pytest.raises(ValueError, match="SQLite database file .* does not exist"):
        dburl.engine_url("sqlite", f"sqlite:///{missing}")
    missing.write_bytes(b"")
    url, where = dburl.engine_url("sqlite", f"sqlite:///{missing}")
    assert url == f"sqlite:///file:{missing.resolve()}?mode=rw&uri=true" and where == str(missing)
    assert dburl.engine_url("sqlite", f"sqlite:///{tmp_path / 'new.db'}", existing=False)[1] == str(tmp_path / "new.db")


def test_a_url_of_another_kind_or_none_is_refused_with_the_password_masked() -> None:
    with pytest.raises(ValueError, match=r"URL scheme 'mysql' is not a postgresql URL: mysql://u:\*\*\*@h/db"):
        dburl.engine_url("postgresql", "mysql://u:hunter22@h/db")
    with pytest.raises(ValueError, match="bad store URL"):
        dburl.engine_url("sqlite", "not a url")


def test_kind_of_and_sqlite_file() -> None:
    assert [dburl.kind_of(u) for u in ("postgres://h/d", "mariadb://h/d", "sqlite:///a.db", "redis://h")] == ["postgresql", "mysql", "sqlite", None]
    assert dburl.sqlite_file("sqlite:////abs/bus.db") == Path("/abs/bus.db")
    with pytest.raises(ValueError, match="not a SQLite file URL"):
        dburl.sqlite_file("postgresql://h/db")
