"""The project's language as data: how amounts and dates are written (:mod:`.formats`), and the
phrase pools the scripted agent and user pick their words from (:mod:`.pools`).

It sits on the lowest floor of ``core`` (it imports no other ``writ_dagster`` module), so tasks,
users and the simulation all use the same formatter and the same picker.
"""
