"""The bench's per-person resolution counts, against the sandbox: by email alone, Braze makes one
export to resolve, one deletion call, and one export to verify; its bulk figure follows."""

from tools.bench.resolution import lookups_per_person
from tools.bench.resolution_bulk import bulk_by_email


def test_one_person_by_email_is_one_export_at_braze_and_the_bulk_follows_from_it():
    _, tallies = lookups_per_person()
    braze = tallies[("email", False, False)]["braze"]
    assert (braze["resolve lookups"], braze["delete deletes"], braze["verify lookups"]) == (1, 1, 1)
    assert "dfinery" not in tallies[("email", False, False)]  # skipped: it takes external ids only
    assert all(t["delete deletes"] == 0 for t in tallies[("email", False, True)].values())  # dry run
    declared = bulk_by_email(tallies, measure=False)[0]
    assert declared.item.startswith("braze") and abs(declared.value - 1000 / 150) < 0.1
