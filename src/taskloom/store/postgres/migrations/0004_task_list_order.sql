-- 0004: SQLite's tasks_project_order (its migration 0012), by the same name: task_list pages a
-- project's tasks in id order. With statistics the planner walks the primary key for a project
-- that fills the table; this index keeps a page cheap when other projects share it too.
CREATE INDEX tasks_project_order ON tasks (project_id, id);
