-- title: Success rate
-- description: Tasks completed end-to-end over tasks completed plus tasks failed; empty when there are neither.
-- format: percent
WITH completed AS (
  SELECT count(DISTINCT task) AS n FROM events
  WHERE kind = 'task.status'
    AND json_extract(data, '$.to') = 'done'
    AND json_extract(data, '$.by') = 'merge'
    AND ts >= :since
), failed AS (
  SELECT count(DISTINCT task) AS n FROM events
  WHERE kind = 'task.status'
    AND json_extract(data, '$.to') = 'blocked'
    AND ts >= :since
)
SELECT CASE WHEN completed.n + failed.n = 0 THEN NULL
            ELSE round(1.0 * completed.n / (completed.n + failed.n), 4) END AS value
FROM completed, failed
