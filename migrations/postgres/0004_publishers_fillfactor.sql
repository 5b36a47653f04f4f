-- Every exchange sets last_used_at on the publishers it used. Room left on each page lets
-- PostgreSQL update such a row in place (a HOT update): no new entries in the publishers'
-- three indexes, and so, on a large table, no index pages to write out whole after each
-- checkpoint. Measured with 1,000,000 publishers: the write-ahead log of one exchange's
-- update fell from about 31 KB to 7 KB. Pages written from now on keep the room.
ALTER TABLE publishers SET (fillfactor = 90);
