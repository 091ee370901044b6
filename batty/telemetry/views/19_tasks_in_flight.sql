-- title: Tasks in flight
-- description: Tasks whose latest status (task.status) is in-progress or review, at the end of the log: a snapshot, --since does not apply.
SELECT count(*) AS value
FROM (
  -- SQLite takes the bare column from the row holding max(ts)
  SELECT task, json_extract(data, '$.to') AS status, max(ts)
  FROM events
  WHERE kind = 'task.status' AND task IS NOT NULL
  GROUP BY task
)
WHERE status IN ('in-progress', 'review')
