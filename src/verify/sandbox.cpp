// The verify sandbox: start a command in an image root the way a container
// runtime would, without changing the root.
//
// Processes, from trace-root down:
//
//   trace-root ── fork ──> keeper (the "direct child" the tracer waits for)
//                            unshare(NEWNS | NEWPID [| NEWNET])
//                            make every mount private, so nothing leaks out
//                            mount a tmpfs on the temp dir; inside it the
//                            overlay: lower = the image root, upper/work on
//                            the tmpfs, mounted on merged/
//                          ── fork ──> workload, pid 1 of the new pid ns
//                                        chroot(merged); /proc, /dev, /tmp,
//                                        the host's /etc/hosts, hostname,
//                                        resolv.conf (as docker run does)
//                                        "ready" to trace-root; wait for go
//                                        execvp(COMMAND)
//
// The workload runs as pid 1 because that is how CMD runs in a container:
// verify should see the same signal and orphan-reaping behaviour the image
// will see in production. When it exits, the kernel kills everything else in
// its pid namespace; the keeper then exits with its status (128+N for signal
// N), the last process of the mount namespace is gone, and the overlay and
// tmpfs vanish with it. The keeper forwards the signals trace-root forwards
// to it (a pid 1 only gets the signals it handles, as in a container).
//
// The workload's pid as trace-root sees it is not its own getpid() (that is
// 1): the "ready" message is sent over a unix socket with SO_PASSCRED set on
// the receiving end, and the kernel translates the sender's pid into
// trace-root's pid namespace.
//
// Paths handed to the overlay are /proc/self/fd/N or relative names (the
// keeper works inside the temp dir), so no option escaping is needed for
// roots whose names hold ',', ':' or '\'.
#include "trace_root/sandbox.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "trace_root/escape.hpp"

namespace trace_root {

namespace {

constexpr const char* kDevices[] = {"null", "zero", "full", "random", "urandom", "tty"};
// A container runtime bind-mounts these from the host into every container;
// the sandbox does the same, so name resolution behaves as it will there.
constexpr const char* kRuntimeEtc[] = {"/etc/hosts", "/etc/hostname", "/etc/resolv.conf"};
constexpr int kSetupFailed = 125;  // like `docker run`: the sandbox, not the command, failed

// Everything the children need, prepared before fork so that they only make
// system calls.
struct Plan {
    std::vector<std::string> command;
    std::string root;
    std::string temp_dir;
    std::string overlay_options;  // filled in by the keeper once the root fd is open
    NetworkPolicy network = NetworkPolicy::Host;
    bool tmpfs_tmp = true;
    int sock = -1;
    int go_fd = -1;
    int exec_error_fd = -1;
};

[[noreturn]] void die(const Plan& p, const std::string& what, int err)
{
    // "E<errno> <message>": trace-root picks the hint from the errno.
    const std::string msg = "E" + std::to_string(err) + " " + what + ": " + std::strerror(err);
    (void)!send(p.sock, msg.data(), msg.size(), MSG_NOSIGNAL);
    _exit(kSetupFailed);
}

sigset_t forwarded_signals()
{
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD})
        sigaddset(&set, s);
    return set;
}

// A mount point inside the chroot: created if missing; a symlink or file
// there is refused rather than mounted through.
void prepare_mount_point(const Plan& p, const char* path, mode_t mode)
{
    if (mkdir(path, mode) != 0 && errno != EEXIST)
        die(p, std::string("cannot create ") + path + " in the sandbox", errno);
    struct stat st {};
    if (lstat(path, &st) != 0)
        die(p, std::string("cannot inspect ") + path + " in the sandbox", errno);
    if (!S_ISDIR(st.st_mode))
        die(p, escape_path(p.root) + path + " is not a directory; cannot mount the sandbox's " +
                   path + " there",
            ENOTDIR);
}

void mount_or_die(const Plan& p, const char* source, const char* target, const char* type,
                  unsigned long flags, const char* data)
{
    if (mount(source, target, type, flags, data) != 0)
        die(p, std::string("cannot mount ") + (type ? type : source) + " on " + target +
                   " in the sandbox",
            errno);
}

// /dev: a small tmpfs holding the host's device nodes, bind-mounted (not
// mknod'ed, which would need the devices cgroup to allow them).
void populate_dev(const Plan& p, const int (&host)[std::size(kDevices)])
{
    prepare_mount_point(p, "/dev", 0755);
    mount_or_die(p, "tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=65536k");
    for (size_t i = 0; i < std::size(kDevices); ++i) {
        if (host[i] < 0)
            continue;  // warned about by the keeper
        const std::string target = std::string("/dev/") + kDevices[i];
        const int fd = open(target.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
        if (fd < 0)
            die(p, "cannot create " + target + " in the sandbox", errno);
        close(fd);
        const std::string source = "/proc/self/fd/" + std::to_string(host[i]);
        mount_or_die(p, source.c_str(), target.c_str(), nullptr, MS_BIND, nullptr);
        close(host[i]);
    }
    // What programs expect beside the devices (a container has them too).
    (void)!symlink("/proc/self/fd", "/dev/fd");
    (void)!symlink("/proc/self/fd/0", "/dev/stdin");
    (void)!symlink("/proc/self/fd/1", "/dev/stdout");
    (void)!symlink("/proc/self/fd/2", "/dev/stderr");
    prepare_mount_point(p, "/dev/shm", 01777);
    mount_or_die(p, "tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
}

// /etc/hosts, /etc/hostname, /etc/resolv.conf from the host, over a
// regular (or new, empty) file in the overlay. A root whose /etc or whose
// file there is something else (a symlink) keeps what it has.
void bind_runtime_etc(const Plan& p, const int (&host)[std::size(kRuntimeEtc)])
{
    struct stat st {};
    if (mkdir("/etc", 0755) != 0 && errno != EEXIST)
        die(p, "cannot create /etc in the sandbox", errno);
    if (lstat("/etc", &st) != 0 || !S_ISDIR(st.st_mode))
        return;
    for (size_t i = 0; i < std::size(kRuntimeEtc); ++i) {
        if (host[i] < 0)
            continue;
        const char* target = kRuntimeEtc[i];
        if (lstat(target, &st) != 0) {
            const int fd = open(target, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
            if (fd < 0)
                die(p, std::string("cannot create ") + target + " in the sandbox", errno);
            close(fd);
        } else if (!S_ISREG(st.st_mode)) {
            continue;
        }
        const std::string source = "/proc/self/fd/" + std::to_string(host[i]);
        mount_or_die(p, source.c_str(), target, nullptr, MS_BIND, nullptr);
        close(host[i]);
    }
}

[[noreturn]] void run_workload(const Plan& p)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int host[std::size(kDevices)];
    for (size_t i = 0; i < std::size(kDevices); ++i)
        host[i] = open((std::string("/dev/") + kDevices[i]).c_str(), O_PATH | O_CLOEXEC);
    int host_etc[std::size(kRuntimeEtc)];
    for (size_t i = 0; i < std::size(kRuntimeEtc); ++i)
        host_etc[i] = open(kRuntimeEtc[i], O_PATH | O_CLOEXEC);  // follows the host's symlinks

    if (chdir("merged") != 0 || chroot(".") != 0 || chdir("/") != 0)
        die(p, "cannot chroot into the overlay of " + escape_path(p.root), errno);
    prepare_mount_point(p, "/proc", 0555);
    mount_or_die(p, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
    populate_dev(p, host);
    prepare_mount_point(p, "/tmp", 01777);
    if (p.tmpfs_tmp)
        mount_or_die(p, "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    bind_runtime_etc(p, host_etc);

    // Ready: trace-root learns our pid (translated by SO_PASSCRED) and adds
    // it to the traced set before it sends the go byte.
    if (send(p.sock, "R", 1, MSG_NOSIGNAL) != 1)
        _exit(kSetupFailed);
    close(p.sock);
    char go = 0;
    if (read(p.go_fd, &go, 1) != 1)
        _exit(kSetupFailed);
    close(p.go_fd);

    // The workload starts in "/" of the root; the host's $PWD would make
    // shells look up a host directory that the image never had.
    setenv("PWD", "/", 1);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    std::vector<char*> argv;
    for (const auto& a : p.command)
        argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    const int err = errno;
    (void)!write(p.exec_error_fd, &err, sizeof err);
    _exit(err == ENOENT ? 127 : 126);
}

void bring_up_loopback(const Plan& p)
{
    const int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        die(p, "cannot create a socket in the sandbox's network namespace", errno);
    struct ifreq ifr {};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0)
        die(p, "cannot read the flags of lo in the sandbox", errno);
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
    if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0)
        die(p, "cannot bring up lo in the sandbox", errno);
    close(s);
}

[[noreturn]] void run_keeper(Plan& p)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int flags = CLONE_NEWNS | CLONE_NEWPID;
    if (p.network == NetworkPolicy::Isolated)
        flags |= CLONE_NEWNET;
    if (unshare(flags) != 0)
        die(p, "cannot create the sandbox's namespaces (unshare)", errno);
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        die(p, "cannot make the sandbox's mounts private", errno);
    if (p.network == NetworkPolicy::Isolated)
        bring_up_loopback(p);

    if (mount("tmpfs", p.temp_dir.c_str(), "tmpfs", 0, "mode=0700") != 0)
        die(p, "cannot mount a tmpfs on " + escape_path(p.temp_dir), errno);
    if (chdir(p.temp_dir.c_str()) != 0)
        die(p, "cannot enter " + escape_path(p.temp_dir), errno);
    for (const char* d : {"upper", "work", "merged"})
        if (mkdir(d, 0755) != 0)
            die(p, "cannot create " + escape_path(p.temp_dir) + "/" + d, errno);
    const int lower = open(p.root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (lower < 0)
        die(p, "cannot open the root " + escape_path(p.root), errno);
    const std::string options =
        "lowerdir=/proc/self/fd/" + std::to_string(lower) + ",upperdir=upper,workdir=work";
    if (mount("overlay", "merged", "overlay", 0, options.c_str()) != 0)
        die(p, "cannot mount an overlay over " + escape_path(p.root), errno);
    close(lower);

    for (size_t i = 0; i < std::size(kDevices); ++i)
        if (access((std::string("/dev/") + kDevices[i]).c_str(), F_OK) != 0)
            std::cerr << "trace-root: warning: /dev/" << kDevices[i]
                      << " is missing on this host; the sandbox will not have it\n";

    const sigset_t set = forwarded_signals();
    sigprocmask(SIG_BLOCK, &set, nullptr);  // the workload inherits it until just before exec
    const pid_t workload = fork();
    if (workload < 0)
        die(p, "cannot fork the sandbox's pid 1", errno);
    if (workload == 0)
        run_workload(p);

    // Only the workload may hold these: the tracer waits for EOF on the
    // exec-error pipe and on the setup socket.
    close(p.go_fd);
    close(p.exec_error_fd);
    close(p.sock);
    for (;;) {
        siginfo_t si{};
        if (sigwaitinfo(&set, &si) < 0)
            continue;
        if (si.si_signo != SIGCHLD) {
            kill(workload, si.si_signo);
            continue;
        }
        int status = 0;
        const pid_t done = waitpid(workload, &status, WNOHANG);
        if (done == workload)
            _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    }
}

// Reads the sandbox's first message: "R" with the sender's credentials, or
// "E<message>". Returns the workload's pid in our namespace.
Result<int> await_ready(int sock)
{
    char buf[4096];
    alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(struct ucred))];
    struct iovec iov = {buf, sizeof buf};
    struct msghdr msg {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n;
    do
        n = recvmsg(sock, &msg, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return fail(std::string("cannot read from the sandbox: ") + std::strerror(errno));
    if (n == 0)
        return fail("the sandbox exited before it was ready");
    if (buf[0] == 'E') {
        const std::string text(buf + 1, static_cast<size_t>(n - 1));
        const size_t space = text.find(' ');
        const int err = std::atoi(text.substr(0, space).c_str());
        const std::string message = space == std::string::npos ? text : text.substr(space + 1);
        return fail(message, err == EPERM || err == ENODEV
                                 ? "verify needs root (CAP_SYS_ADMIN) and a kernel with "
                                   "overlayfs, tmpfs and procfs"
                                 : "");
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
            struct ucred cred {};
            std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
            if (cred.pid > 0)
                return static_cast<int>(cred.pid);
        }
    }
    return fail("the sandbox's ready message carried no process id");
}

}  // namespace

bool root_has_tmp_content(const std::string& root)
{
    const int rfd = open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rfd < 0)
        return false;
    const int tfd = openat(rfd, "tmp", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    close(rfd);
    if (tfd < 0)
        return false;
    DIR* d = fdopendir(tfd);
    if (!d) {
        close(tfd);
        return false;
    }
    bool content = false;
    while (const dirent* e = readdir(d))
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
            content = true;
            break;
        }
    closedir(d);
    return content;
}

SandboxLauncher::SandboxLauncher(SandboxOptions options) : options_(std::move(options)) {}

SandboxLauncher::~SandboxLauncher()
{
    // The tmpfs on it lived in the sandbox's mount namespace only: here it is
    // an empty directory.
    if (!temp_dir_.empty())
        rmdir(temp_dir_.c_str());
}

Result<int> SandboxLauncher::start(const std::vector<std::string>& command, int go_fd,
                                   int exec_error_fd, int& direct_child)
{
    if (command.empty())
        return fail("no command to run in the sandbox");
    if (!temp_dir_.empty())
        return fail("internal: a SandboxLauncher starts one command only");
    // The keeper works inside its temp dir: a relative root would be looked
    // up there.
    std::error_code abs_ec;
    options_.root = std::filesystem::absolute(options_.root, abs_ec).string();
    struct stat st {};
    if (stat(options_.root.c_str(), &st) != 0)
        return fail(errno_message("cannot use the root", options_.root, errno));
    if (!S_ISDIR(st.st_mode))
        return fail(errno_message("cannot use the root", options_.root, ENOTDIR));

    std::error_code ec;
    std::string tmpl = (std::filesystem::temp_directory_path(ec) / "trace-root-verify.XXXXXX");
    if (ec)
        tmpl = "/tmp/trace-root-verify.XXXXXX";
    if (!mkdtemp(tmpl.data()))
        return fail(errno_message("cannot create a temporary directory", tmpl, errno));
    temp_dir_ = tmpl;

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        return fail(std::string("cannot create a socket pair: ") + std::strerror(errno));
    const int one = 1;
    if (setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one) != 0) {
        const int err = errno;
        close(sv[0]);
        close(sv[1]);
        return fail(std::string("cannot enable SO_PASSCRED: ") + std::strerror(err));
    }

    Plan plan;
    plan.tmpfs_tmp = !root_has_tmp_content(options_.root);
    if (!plan.tmpfs_tmp)
        std::cerr << "trace-root: warning: " << escape_path(options_.root)
                  << "/tmp holds files; the sandbox keeps them instead of mounting a tmpfs on "
                     "/tmp (writes still go to the throw-away overlay)\n";
    plan.command = command;
    plan.root = options_.root;
    plan.temp_dir = temp_dir_;
    plan.network = options_.network;
    plan.sock = sv[1];
    plan.go_fd = go_fd;
    plan.exec_error_fd = exec_error_fd;

    const pid_t keeper = fork();
    if (keeper < 0) {
        const int err = errno;
        close(sv[0]);
        close(sv[1]);
        return fail(std::string("cannot fork: ") + std::strerror(err));
    }
    if (keeper == 0) {
        close(sv[0]);
        run_keeper(plan);
    }
    close(sv[1]);
    auto ready = await_ready(sv[0]);
    close(sv[0]);
    if (!ready) {
        kill(keeper, SIGKILL);
        waitpid(keeper, nullptr, 0);
        return ready;
    }
    direct_child = keeper;
    return ready;
}

}  // namespace trace_root
