-- title: Reviews
-- description: What people said of reviewed tasks, newest first: approvals (merge.approved) and changes requested in words (review.changes_requested).
SELECT ts, task, attempt,
       CASE kind WHEN 'merge.approved' THEN 'approved' ELSE 'changes requested' END AS decision,
       json_extract(data, '$.by') AS by_whom,
       json_extract(data, '$.text') AS text
FROM events
WHERE kind IN ('merge.approved', 'review.changes_requested')
  AND ts >= batty_since(:since)
ORDER BY ts DESC, id DESC
LIMIT 20
