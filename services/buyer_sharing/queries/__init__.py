"""Read-side queries of buyer sharing, one module per view (consent, portfolio, reports,
statistics, transparency), and the reads commands make in their own unit of work
(`command_reads`)."""
