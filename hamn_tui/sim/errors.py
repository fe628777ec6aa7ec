"""What can go wrong in building a training session."""


class ScenarioError(Exception):
    """A scenario's setup or fault could not be applied (its command failed): a bug in the scenario."""
