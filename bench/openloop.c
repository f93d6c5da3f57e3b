/* The open-heavy benchmark workload: ROUNDS passes over N files in DIR,
 * each pass an open+close and a stat of every file. Every syscall it makes
 * in the loop is a file syscall. Usage: openloop DIR N ROUNDS */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	int n = atoi(argv[2]), rounds = atoi(argv[3]);
	char path[4096];
	struct stat st;
	for (int r = 0; r < rounds; r++)
		for (int i = 0; i < n; i++) {
			snprintf(path, sizeof path, "%s/f%05d", argv[1], i);
			int fd = open(path, O_RDONLY);
			if (fd < 0)
				return 3;
			close(fd);
			if (stat(path, &st) != 0)
				return 4;
		}
	return 0;
}
