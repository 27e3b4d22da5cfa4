"""Test every voice connection through its hook, and show that a wrong key is refused with the vendor's reason.

Connections (``make demo`` defines them as ``AIRFLOW_CONN_*`` environment variables pointing at the
simulator): ``velip_default``, ``televoips_default``, ``octopush_default``, ``kaleyra_default``, and
``<vendor>_wrong_key`` twins holding a bad key. The hook class is picked from the connection type by
Airflow's providers manager, as ``airflow connections test`` does.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import BaseHook, dag, task

VENDORS = ["velip", "televoips", "octopush", "kaleyra"]


@dag(
    dag_id="example_connections",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["voice", "example"],
    doc_md=__doc__,
)
def example_connections():
    @task
    def check(vendor: str) -> dict:
        """The good connection must pass, the wrong-key one must fail with the vendor's reason."""
        good_ok, good_message = BaseHook.get_hook(f"{vendor}_default").test_connection()
        bad_ok, bad_message = BaseHook.get_hook(f"{vendor}_wrong_key").test_connection()
        if not good_ok:
            raise RuntimeError(f"{vendor}_default failed its connection test: {good_message}")
        if bad_ok:
            raise RuntimeError(f"{vendor}_wrong_key was accepted: {bad_message}")
        return {"vendor": vendor, "ok": good_message, "wrong_key": bad_message}

    @task
    def summary(results: list[dict]) -> None:
        width = max(len(r["vendor"]) for r in results)
        lines = ["connection tests:"]
        for r in results:
            lines.append(f"  {r['vendor']:<{width}}  OK      {r['ok']}")
            lines.append(f"  {'':<{width}}  refused {r['wrong_key']} (wrong key)")
        print("\n".join(f"DEMO| {line}" for line in lines))

    summary(check.expand(vendor=VENDORS))


example_connections()
