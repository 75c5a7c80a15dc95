"""`factory spec init`: a draft spec from the data, every suggestion with why."""
