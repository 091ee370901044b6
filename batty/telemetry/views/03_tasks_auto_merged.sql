-- title: Tasks auto-merged
-- description: Distinct tasks landed by merge with no human approval (merge.merged with data.auto true).
SELECT count(DISTINCT task) AS value
FROM events
WHERE kind = 'merge.merged'
  AND json_extract(data, '$.auto') = 1
  AND ts >= batty_since(:since)
