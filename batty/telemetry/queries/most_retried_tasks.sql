-- title: Most retried tasks
-- description: Tasks dispatched more than once (task.dispatched), most attempts first, with their latest status.
WITH tries AS (
  SELECT task, count(*) AS dispatches, max(attempt) AS last_attempt
  FROM events
  WHERE kind = 'task.dispatched' AND task IS NOT NULL
    AND ts >= batty_since(:since)
  GROUP BY task
  HAVING count(*) > 1
), latest AS (
  SELECT task, json_extract(data, '$.to') AS status, max(ts)
  FROM events
  WHERE kind = 'task.status' AND task IN (SELECT task FROM tries)
  GROUP BY task
)
SELECT tries.task, tries.dispatches, tries.last_attempt, latest.status
FROM tries LEFT JOIN latest USING (task)
ORDER BY tries.dispatches DESC, tries.task
LIMIT 10
