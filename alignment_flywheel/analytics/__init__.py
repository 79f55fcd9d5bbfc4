"""Analytics over the ClickHouse event tables: documented SQL queries and the HTML report."""
