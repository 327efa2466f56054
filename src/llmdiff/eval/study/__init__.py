"""Side-by-side human preference study: image pairs (`pairs`), votes in SQLite (`store`), the local web page
(`server`), and win/tie/loss rates with confidence intervals (`analysis`)."""
