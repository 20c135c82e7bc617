"""Times as the relay writes them (ISO-8601 UTC, milliseconds, four-digit years: they sort as
text) and reads them (instants, whatever the time zone given), and calendar arithmetic."""

from __future__ import annotations

from calendar import monthrange
from datetime import UTC, datetime, time
from typing import Any

MAX_TIME_LENGTH = 64  # characters of a time given in a request


def one_month_after(moment: datetime) -> datetime:
    """The same day of the next month, or that month's last day when it has no such day."""
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return moment.replace(year=year, month=month, day=min(moment.day, monthrange(year, month)[1]))


def years_after(moment: datetime, years: int) -> datetime:
    """The same day `years` later, or February's last day for a 29th it does not have."""
    year = moment.year + years
    return moment.replace(year=year, day=min(moment.day, monthrange(year, moment.month)[1]))


def utc_timestamp(moment: datetime | None = None) -> str:
    """ISO-8601 UTC with milliseconds and Z (a form vendors document); the year always has four
    digits (strftime's %Y has fewer before 1000 on Linux, which fromisoformat cannot read), so
    that timestamps also sort as text."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )


def epoch_timestamp(epoch: float) -> str:
    """utc_timestamp of a time given in epoch seconds."""
    return utc_timestamp(datetime.fromtimestamp(epoch, UTC))


def instant(value: Any, date_ends_day: bool = False) -> datetime | None:
    """An ISO-8601 time with a time zone (or, with `date_ends_day`, a date: its last moment, UTC)
    as the UTC instant it is stored as (whole milliseconds); None when it is none, or when its
    time zone carries it past either end of the calendar."""
    if not isinstance(value, str) or len(value) > MAX_TIME_LENGTH:
        return None
    try:
        if date_ends_day and len(value) == 10:  # YYYY-MM-DD
            moment = datetime.combine(datetime.fromisoformat(value).date(), time.max, UTC)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            return None
        # The stored form keeps milliseconds: every rule is checked on what the vendors read back.
        return whole_milliseconds(moment.astimezone(UTC))
    except (ValueError, OverflowError):
        return None


def whole_milliseconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
