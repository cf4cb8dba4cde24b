"""Re-planning a planned week after changes: see :mod:`patrols.replan.replan`."""

from patrols.replan.replan import plan_id, replan_week

__all__ = ["plan_id", "replan_week"]
