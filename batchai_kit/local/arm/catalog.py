"""The provider's operation catalogue (``GET /providers/Microsoft.BatchAI/operations``).

Taken from Microsoft's ListOperation.json example of 2018-05-01 (spec/operations.json).
"""

import json
from pathlib import Path

OPERATIONS = json.loads((Path(__file__).parent.parent / "spec" / "operations.json").read_text())
