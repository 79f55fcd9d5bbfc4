"""Files shipped with the package: the Avro contract (`schemas/`), the infrastructure data
(`infra/`) and the default oracle artifact and risk policy (`policies/`).

In a source checkout both are links to the top-level folders of the repository, so the package and
the repository always read the same files.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent
SCHEMAS_DIR = ROOT / "schemas"
INFRA_DIR = ROOT / "infra"
POLICIES_DIR = ROOT / "policies"
