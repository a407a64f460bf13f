-- Demo data of the course service (docs/contract/data-model.md section 6.1):
-- three courses and three lectures. Applied by scripts/db seed into elp_course.
-- Each row goes in only when its id is absent; a re-run changes nothing (ON
-- DUPLICATE KEY assigns a column to itself, so no row is touched). Timestamps
-- are UTC.

INSERT INTO course (course_id, course_name, description, image_url,
    is_enrollment_enabled, course_fee, discount, published_at)
VALUES
    ('550e8400-e29b-41d4-a716-446655440002', 'System Design Preparation',
     'Get ready for system design interviews with a structured path through the topics interviewers ask about most: scaling a service from one machine to many, load balancing, caching, database design and partitioning, queues and consistency trade-offs. Each module ends with a practice exercise and a solution.',
     'file-system-storage/dummy-system-design-course-banner.jpg',
     TRUE, 10000, 50, '2024-04-09 18:00:00.000'),
    ('550e8400-e29b-41d4-a716-446655440001', 'Java & Spring Boot',
     'Start from the very basics of Java and work up to building real web services with the Spring Boot framework. No prior experience is needed: we''ll cover syntax, objects, collections, testing and REST APIs one small step at a time.',
     'file-system-storage/dummy-java-course-banner.jpg',
     TRUE, 10000, 0, '2024-04-12 18:00:00.000'),
    ('550e8400-e29b-41d4-a716-446655440000', 'Introduction to Programming',
     'A friendly first course for students who have never written a line of code. You will learn how programs are built from variables, conditions, loops and functions, practise reading and fixing small programs, and finish by writing a complete project of your own.',
     'file-system-storage/dummy-programming-course-banner.jpg',
     TRUE, 10000, 50, '2024-04-14 18:00:00.000')
ON DUPLICATE KEY UPDATE course_id = course_id;

-- Titles 2 and 3 are swapped relative to the sequence, as in the original.
INSERT INTO course_content (content_id, course_id, content_title,
    content_type, content_url, content_sequence)
VALUES
    ('cb8bf5aa-1030-439c-b78d-ad60e4f46d28',
     '550e8400-e29b-41d4-a716-446655440002', 'Dummy Content Title 1',
     'MP4', 'file-system-storage/dummy-video-1.mp4', 1),
    ('afd83ea1-9a4d-4f7b-95d1-e030e6249ae9',
     '550e8400-e29b-41d4-a716-446655440002', 'Dummy Content Title 3',
     'MP4', 'file-system-storage/dummy-video-1.mp4', 2),
    ('9030e2f7-8300-4021-9236-8c50246dd5c7',
     '550e8400-e29b-41d4-a716-446655440002', 'Dummy Content Title 2',
     'MP4', 'file-system-storage/dummy-video-1.mp4', 3)
ON DUPLICATE KEY UPDATE content_id = content_id;
