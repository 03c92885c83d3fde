"""``python -m mgqa.bench TASK ARGS``: one measured step in a fresh process (see ``child.run_child``)."""

import json
import sys

from mgqa.bench.child import CHILDREN

print(json.dumps(CHILDREN[sys.argv[1]](json.loads(sys.argv[2]))))
