"""Cases: the programmes, their facts, the pure monthly amounts, the fold of a case's decisions
and the Case aggregate."""
