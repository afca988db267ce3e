"""Tools around ticketflow that are not the product: demo data and benchmarks."""
