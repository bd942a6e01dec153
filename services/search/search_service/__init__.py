"""Search read model fed by product and inventory events: full text, typo tolerance, filters, facets."""
