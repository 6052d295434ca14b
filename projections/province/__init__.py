"""The province over its cities: each city's ledger replicated to the provincial database by
PostgreSQL logical replication (``replication``), projected there city by city, and read
across cities (``consolidation``): totals summed to the fen with the position each city's
figures reflect, and the persons who hold, in two cities, programmes that exclude each other.
"""
