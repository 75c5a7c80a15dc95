"""One partition per landed batch, keyed by its id, which names the spec's period
(`2016-07`, `2016-W27`, `2016-07-04`, `2016-07-04T13`, `2016-Q3`, `rows-000123`: base.clock).

Dynamic rather than time-window partitions: batch ids come from the data and the
spec's period, not the wall clock, so replaying 2016 and serving live batches work
alike, and a partition exists only once its batch has landed."""

import dagster as dg

batches = dg.DynamicPartitionsDefinition(name="batches")
