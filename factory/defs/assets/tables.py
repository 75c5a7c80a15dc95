"""Metadata helpers shared by the asset modules."""

import dagster as dg
import pandas as pd

LOOP = "flywheel"  # the group of the per-batch assets in the UI


def md_table(rows: list[dict]) -> dg.MetadataValue:
    if not rows:
        return dg.MetadataValue.md("_none_")
    frame = pd.DataFrame(rows)
    return dg.MetadataValue.md(frame.to_markdown(index=False, floatfmt=".3f"))
