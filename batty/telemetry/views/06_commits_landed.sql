-- title: Commits landed
-- description: Commits that reached the base branch, summed over merges (merge.merged data.commits).
SELECT coalesce(sum(json_extract(data, '$.commits')), 0) AS value
FROM events
WHERE kind = 'merge.merged'
  AND ts >= batty_since(:since)
