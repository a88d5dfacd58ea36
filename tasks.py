"""This repository's tasks: the flaskfleet task library, configured for the repo's layout.

    invoke --list            all tasks
    invoke --help run        a task's arguments
    invoke run "uname -n" -H web

Settings come from (lowest first) the defaults below, invoke.yaml, FLASKFLEET_* env vars, ``-f FILE``
and each task's flags; see docs/invoke.md.
"""

from invoke import Collection

from flaskfleet import tasks as fleet

ns = Collection.from_module(fleet)
ns.configure(
    {
        "flaskfleet": {
            "inventory": "inventory/local.fleet.yml",
            "app_path": "examples/hello",
            "hosts": "web",
            "state_dir": ".flaskfleet",
        }
    }
)
