-- title: Success rate
-- description: Tasks completed end-to-end over tasks completed plus tasks failed; empty when there are neither.
-- format: percent
WITH completed AS (
  SELECT count(DISTINCT task) AS n FROM events
  WHERE kind = 'task.status'
    AND json_extract(data, '$.to') = 'done'
    AND json_extract(data, '$.by') = 'merge'
    AND ts >= batty_since(:since)
), latest AS (
  SELECT task, json_extract(data, '$.to') AS status, max(ts)
  FROM events
  WHERE kind = 'task.status' AND task IS NOT NULL
    AND ts >= batty_since(:since)
  GROUP BY task
), failed AS (
  -- as 18_tasks_failed.sql: blocked in the window, and not done at its end
  SELECT count(*) AS n FROM latest
  WHERE status IS NOT 'done'
    AND task IN (SELECT task FROM events
                 WHERE kind = 'task.status'
                   AND json_extract(data, '$.to') = 'blocked'
                   AND ts >= batty_since(:since))
)
SELECT CASE WHEN completed.n + failed.n = 0 THEN NULL
            ELSE round(1.0 * completed.n / (completed.n + failed.n), 4) END AS value
FROM completed, failed
