-- title: Assignments dispatched
-- description: Attempts handed to a seat and launched (task.dispatched), retries and respawned attempts included.
SELECT count(*) AS value
FROM events
WHERE kind = 'task.dispatched'
  AND ts >= batty_since(:since)
