"""A toy DatasetSpec for tests that build small frames by hand."""

from factory.core.base.spec import DatasetSpec, SourceSpec, TimeSpec


def toy_spec(
    numeric: tuple[str, ...] = ("lead_time", "adr"), categorical: tuple[str, ...] = ("hotel", "meal")
) -> DatasetSpec:
    return DatasetSpec(
        name="toy",
        source=SourceSpec(path="unused.csv"),
        target="y",
        positive_label=1,
        time=TimeSpec(month="month", start_year=2015),
        numeric=numeric,
        categorical=categorical,
    )
