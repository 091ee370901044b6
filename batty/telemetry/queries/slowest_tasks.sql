-- title: Slowest tasks
-- description: Tasks completed end-to-end, longest first: seconds from their first dispatch to done.
WITH done AS (
  SELECT task, max(ts) AS done_at
  FROM events
  WHERE kind = 'task.status'
    AND json_extract(data, '$.to') = 'done'
    AND json_extract(data, '$.by') = 'merge'
    AND ts >= batty_since(:since)
  GROUP BY task
), started AS (
  SELECT task, min(ts) AS started_at
  FROM events
  WHERE kind = 'task.dispatched' AND task IN (SELECT task FROM done)
  GROUP BY task
)
SELECT done.task, started.started_at, done.done_at,
       round((julianday(done.done_at) - julianday(started.started_at)) * 86400, 1) AS seconds
FROM done JOIN started USING (task)
ORDER BY seconds DESC, done.task
LIMIT 10
