-- 0012: task_list pages a project's tasks in id order. With only tasks_claim_order to find the
-- project's rows, each page sorted all of them in a temporary table to keep a page: 80 ms at 100k
-- tasks for 50 rows. Walked in this index's order, a page stops after its rows (0.05 ms), and a
-- status or role filter is checked on the way.
CREATE INDEX tasks_project_order ON tasks (project_id, id);
