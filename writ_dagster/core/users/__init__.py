"""User behaviour scripts: how one user expresses and reveals the same task (WRIT step 2).

``make_scripts`` builds a task's scripts (variant 0 canonical, others scripted) and
``check_script`` verifies that a script keeps every needed fact and leaks no evidence.
"""

from writ_dagster.core.users.check import check_script
from writ_dagster.core.users.models import ScriptDimensions, ScriptLines, Slip, UserScript
from writ_dagster.core.users.scripts import make_scripts

__all__ = ["ScriptDimensions", "ScriptLines", "Slip", "UserScript", "check_script", "make_scripts"]
