"""Print pyproject.toml's dependency lists (``runtime`` or an extra's name), one per line."""

import sys
import tomllib

with open("pyproject.toml", "rb") as f:
    project = tomllib.load(f)["project"]
for group in sys.argv[1:]:
    deps = (
        project["dependencies"] if group == "runtime" else project["optional-dependencies"][group]
    )
    print("\n".join(deps))
