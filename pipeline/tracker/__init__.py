"""Follow Midjourney's replies to the jobs they belong to."""

from pipeline.tracker.matching import JobIndex, Match, MatchKey, TrackedJob
from pipeline.tracker.tracker import ConnectionChannel, ConnectionControl, ResultSink, Tracker

__all__ = [
    "ConnectionChannel",
    "ConnectionControl",
    "JobIndex",
    "Match",
    "MatchKey",
    "ResultSink",
    "TrackedJob",
    "Tracker",
]
