"""Buyer sharing: buyers, consent (grants, access requests), buyer portfolios and reports, audit
reliance, and the programme's public transparency pages."""
